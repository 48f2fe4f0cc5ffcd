"""Data sources by name: every entry has ``sample(n, generator) -> Tensor[n, *event_shape]``.

``DATASETS`` holds the 2D toy distributions (ready-made samplers). Image data sets
(``digits``, ``mnist``, ``fashion-mnist``, ``cifar10`` and ``folder:PATH``, see
:mod:`mixgan.data.images`) are loaded from disk on demand by :func:`make_data`, because
they need a data root, a resolution and sometimes a download.
"""
import re

from toy_data import DATASETS as TOY_DATASETS

from mixgan.data.images import FOLDER_PREFIX, IMAGE_DATASETS, is_image_dataset, load_image_data

DATASETS = dict(TOY_DATASETS)

# Sensible defaults that differ between 2D points and images (used when a config leaves them unset):
# the paper's MLP on 2D noise for toy data, DCGAN's width 64 and 100-dimensional noise for images.
TOY_DEFAULTS = {"z_dim": 2, "width": 512}
IMAGE_DEFAULTS = {"z_dim": 100, "width": 64}


def dataset_names():
    """Every name ``--data`` accepts, as shown by ``--help`` and in error messages."""
    return list(DATASETS) + list(IMAGE_DATASETS)


def is_known_dataset(name):
    return name in DATASETS or is_image_dataset(name)


def default_for(name, option):
    """The default of ``option`` (``z_dim`` or ``width``) for data set ``name``."""
    return (IMAGE_DEFAULTS if is_image_dataset(name) else TOY_DEFAULTS)[option]


def data_label(name):
    """``name`` made safe for a run folder's name: ``folder:~/pics/cats`` -> ``folder-cats``."""
    if isinstance(name, str) and name.startswith(FOLDER_PREFIX):
        tail = name[len(FOLDER_PREFIX):].rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
        name = "folder-" + (tail or "root")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def make_data(name, config=None, split="train"):
    """The data source called ``name``. Image data sets read ``data_root``, ``download`` and
    ``image_size`` from ``config`` (a TrainConfig or None for the defaults)."""
    if name in DATASETS:
        return DATASETS[name]
    options = {k: getattr(config, k, None) for k in ("data_root", "download", "image_size")}
    return load_image_data(name, data_root=options["data_root"], download=bool(options["download"]),
                           image_size=options["image_size"], split=split)
