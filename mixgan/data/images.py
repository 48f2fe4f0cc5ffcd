"""Image data sets for mixgan: load them, scale them to [-1, 1] and sample them.

``load_image_data(name, ...)`` returns an :class:`ImageData` (for folders a
:class:`~mixgan.data.image_folder.FolderImageData`, which decodes per batch), a data source like the 2-D
toy distributions: ``sample(n, generator) -> Tensor[n, C, H, W]`` draws all randomness
from the given ``torch.Generator`` and returns images on that generator's device.

Data sets (``IMAGE_DATASETS``):

* ``digits``: scikit-learn's 8x8 handwritten digits (1797 images, 10 classes; ships with
  scikit-learn, so it works offline). Values 0..16 are scaled to [-1, 1] and resized
  bilinearly to 16x16 by default (``image_size`` 8, 16 or 32).
* ``mnist``, ``fashion-mnist``: 28x28 grey, read from torchvision's on-disk layout
  ``DATA_ROOT/MNIST/raw/`` (``FashionMNIST/raw/``): ``train-images-idx3-ubyte`` and
  ``train-labels-idx1-ubyte`` (test split: ``t10k-*``), uncompressed or ``.gz``.
* ``cifar10``: 32x32 RGB, ``DATA_ROOT/cifar-10-batches-py/data_batch_1..5`` (test split:
  ``test_batch``), the python pickles, read by an unpickler that builds arrays, lists, dicts and
  strings only, so a crafted file cannot run code.
* ``folder:PATH``: every png/jpg/jpeg/bmp/webp below PATH (hidden names skipped), RGB, or
  grey when every file is grey; resized and centre-cropped to ``image_size`` (default 64).
  When every image sits in a sub-folder, the top-level sub-folders are the classes. A folder is
  streamed: the file list and every header are read at start, pixels per batch
  (:mod:`mixgan.data.image_folder`, which also states the rule for damaged files).

``image_size`` resizes mnist, fashion-mnist and cifar10 too (bilinear, antialiased when
shrinking). ``data_root`` defaults to ``./data``.

Splits (``split=``): "train" (default), "test" or "all". mnist, fashion-mnist and cifar10
use their official splits; digits and folders hold out the first 297 of the 1797 digits
(1500 train) / a tenth of the files (rounded down) in ``numpy.random.RandomState(0).permutation``.

torchvision is tried in one place, :func:`import_torchvision`. When it works its dataset
classes read mnist, fashion-mnist and cifar10 (and fetch them with ``download=True``); when
it cannot be imported (not installed, or built for another torch) mixgan's own readers of
the same on-disk formats are used and ``download=True`` raises ``UsageError`` saying why.
Bad input (missing or corrupt files, unknown names) raises ``UsageError``, one line.
"""
import functools
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mixgan.data.formats import read_cifar_batch, read_idx
from mixgan.data.image_folder import GREY_MODES, FolderImageData, FolderImages, one_line, open_image, to_float
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
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")

_STANDARD = {  # name: (folder under data_root, torchvision class, class names)
    "mnist": ("MNIST", "MNIST", tuple("0123456789")),
    "fashion-mnist": ("FashionMNIST", "FashionMNIST", (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
    "cifar10": ("cifar-10-batches-py", "CIFAR10", (
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")),
}


def is_image_dataset(name):
    """True for the names in ``IMAGE_DATASETS`` and for any ``folder:PATH``."""
    return isinstance(name, str) and (name in _STANDARD or name == "digits" or name.startswith(FOLDER_PREFIX))


@functools.lru_cache(maxsize=None)
def import_torchvision():
    """Try torchvision once: ``(module, None)`` when it works, else ``(None, reason)``.

    Never raises. A torchvision built for another torch (e.g. the CUDA wheel next to a CPU
    torch) fails at import with ``RuntimeError: operator torchvision::nms does not exist``.
    """
    try:
        import torchvision
    except ImportError as err:
        return None, f"torchvision is not installed ({one_line(err)})"
    except (RuntimeError, OSError) as err:
        return None, (f"torchvision does not work with torch {torch.__version__} "
                      f"({type(err).__name__}: {one_line(err)}); install the matching build")
    return torchvision, None


class ImageData:
    """Images [N, C, H, W] (float32 in [-1, 1]) with optional int64 labels [N].

    ``sample`` keeps one copy of the images per device it has sampled on, so training on
    a GPU copies the data set to the GPU once, never per step.
    """

    def __init__(self, name, images, labels=None, class_names=None, split="all"):
        images = torch.as_tensor(images)
        if images.dim() != 4 or images.dtype != torch.float32 or len(images) == 0:
            raise ValueError(f"images must be a non-empty float32 [N, C, H, W] tensor, got "
                             f"{images.dtype} {tuple(images.shape)}")
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.long)
            if labels.shape != (len(images),):
                raise ValueError(f"labels must have shape ({len(images)},), got {tuple(labels.shape)}")
        self.images, self.labels, self.split = images, labels, split
        self.class_names = tuple(class_names) if class_names is not None else None
        self._name = name
        self._on = {}  # device -> (images, labels)

    @property
    def name(self):
        return self._name

    @property
    def event_shape(self):
        return torch.Size(self.images.shape[1:])

    @property
    def num_classes(self):
        if self.class_names is not None:
            return len(self.class_names)
        return None if self.labels is None else int(self.labels.max()) + 1

    def __len__(self):
        return len(self.images)

    def __repr__(self):
        return (f"ImageData({self.name!r}, split={self.split!r}, n={len(self)}, "
                f"event_shape={tuple(self.event_shape)}, num_classes={self.num_classes})")

    def _tensors_on(self, device):
        if device not in self._on:
            labels = None if self.labels is None else self.labels.to(device)
            self._on[device] = (self.images.to(device), labels)
        return self._on[device]

    def sample(self, n, generator):
        """``n`` images drawn uniformly with replacement, on ``generator.device``."""
        return self.sample_with_labels(n, generator)[0]

    def sample_with_labels(self, n, generator):
        """Like ``sample`` (same draws for the same generator state) plus their labels or None."""
        images, labels = self._tensors_on(generator.device)
        idx = torch.randint(len(images), (n,), generator=generator, device=generator.device)
        return images[idx], None if labels is None else labels[idx]


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
    parts = ("train", "test") if split == "all" else (split,)
    loaded = [_load_standard(name, root, part, download) for part in parts]
    images = torch.cat([to_float(x) for x, _ in loaded])
    labels = torch.cat([y for _, y in loaded])
    if image_size is not None:
        images = _resize(images, image_size)
    return ImageData(name, images, labels, _STANDARD[name][2], split)


def _resize(images, size):
    if images.shape[-2:] == (size, size):
        return images
    shrink = size < images.shape[-1]
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=shrink).clamp_(-1.0, 1.0)


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

    digits = load_digits()
    idx = _held_out(len(digits.images), DIGITS_TEST_SIZE, split)
    images = torch.as_tensor(digits.images[idx], dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0
    return ImageData("digits", _resize(images, size), digits.target[idx], tuple("0123456789"), split)


def _load_standard(name, root, part, download):
    """uint8 images [N, C, H, W] and int64 labels [N] of one official split."""
    tv_class = _STANDARD[name][1]
    tv, reason = import_torchvision()
    if tv is not None:
        try:
            ds = getattr(tv.datasets, tv_class)(str(root), train=(part == "train"), download=download)
        except Exception as err:  # not found, corrupt, or the download failed
            if download:
                raise UsageError(f"downloading {name} into {root} failed: {one_line(err)}") from err
        else:
            images = torch.as_tensor(np.asarray(ds.data))
            images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
            return images.contiguous(), torch.as_tensor(np.asarray(ds.targets), dtype=torch.long)
        # fall through: our reader gives a precise message (or reads what torchvision would not)
    elif download:
        raise UsageError(f"cannot download {name}: {reason}; put {_expected(name, part)} "
                         f"in {_files_folder(name, root)} yourself")
    if name == "cifar10":
        return _read_cifar10(root, part)
    return _read_mnist(name, root, part)


def _files_folder(name, root):
    """Where torchvision keeps (and mixgan reads) the files of ``name``."""
    return root / _STANDARD[name][0] if name == "cifar10" else root / _STANDARD[name][0] / "raw"


def _expected(name, part):
    if name == "cifar10":
        return ", ".join(_cifar_files(part))
    return " and ".join(_mnist_files(part)) + " (or .gz)"


def _mnist_files(part):
    prefix = "train" if part == "train" else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _cifar_files(part):
    return [f"data_batch_{i}" for i in range(1, 6)] if part == "train" else ["test_batch"]


def _find(folder, filename):
    return next((p for p in (folder / filename, folder / (filename + ".gz")) if p.is_file()), None)


def _read_mnist(name, root, part):
    folder = _files_folder(name, root)
    names = _mnist_files(part)
    paths = [_find(folder, f) for f in names]
    if None in paths:
        raise UsageError(f"{name}: expected {_expected(name, part)} in {folder}; not found "
                         f"(use --download, which needs torchvision, or copy the files there)")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.dtype != np.uint8 or images.ndim != 3:
        raise UsageError(f"{paths[0]}: expected uint8 images [N, H, W], got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.shape != (len(images),):
        raise UsageError(f"{paths[1]}: expected {len(images)} uint8 labels, got {labels.dtype} {labels.shape}")
    if labels.size and labels.max() >= len(_STANDARD[name][2]):
        raise UsageError(f"{paths[1]}: label {labels.max()} out of range 0..{len(_STANDARD[name][2]) - 1}")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _read_cifar10(root, part):
    folder = _files_folder("cifar10", root)
    names = _cifar_files(part)
    missing = [f for f in names if not (folder / f).is_file()]
    if missing:
        raise UsageError(f"cifar10: expected {', '.join(names)} in {folder}; missing {', '.join(missing)} "
                         f"(use --download, which needs torchvision, or copy the files there)")
    images, labels = [], []
    for f in names:
        path = folder / f
        data, batch_labels = read_cifar_batch(path)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or batch_labels.shape != (len(data),):
            raise UsageError(f"{path}: expected uint8 data [N, 3072] and N labels, got {data.dtype} "
                             f"{data.shape} and {batch_labels.shape} labels")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(batch_labels)
    labels = np.concatenate(labels)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise UsageError(f"cifar10 labels in {folder} must be 0..9, found {labels.min()}..{labels.max()}")
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(labels)


def _load_folder(name, size, split):
    """The folder's files, listed and header-checked now; pixels are decoded per batch
    (:mod:`mixgan.data.image_folder`)."""
    path = Path(os.path.expanduser(name[len(FOLDER_PREFIX):]))
    if not path.is_dir():
        raise UsageError(f"{name}: {path} is not a folder")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise UsageError(f"{name}: no images ({', '.join(IMAGE_EXTENSIONS)}) found under {path}")
    rel = [p.relative_to(path) for p in files]
    classes = sorted({r.parts[0] for r in rel}) if all(len(r.parts) > 1 for r in rel) else None
    modes = set()
    for p in files:  # every header, no pixels: a file that is not an image is refused before training
        with open_image(p) as im:
            modes.add(im.mode)
    mode = "L" if modes <= GREY_MODES else "RGB"
    idx = _held_out(len(files), int(len(files) * FOLDER_TEST_FRACTION), split)
    if len(idx) == 0:
        raise UsageError(f"{name}: the {split} split is empty ({len(files)} images; a tenth is held out for test)")
    label_of = {c: k for k, c in enumerate(classes or ())}
    labels = None if classes is None else [label_of[rel[i].parts[0]] for i in idx]
    return FolderImageData(name, FolderImages([files[i] for i in idx], mode, size), labels, classes, split)
