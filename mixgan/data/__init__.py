"""Data sources by name: the 2D toy distributions of ``toy_data`` and image data sets.

Every source has ``sample(n, generator) -> Tensor[n, *event_shape]`` and draws its randomness
from the generator alone. ``DATASETS`` (``registry.py``) is the registry of ready-made samplers;
image data sets are loaded on demand by :func:`make_data` (``images.py``, through torchvision;
folders in ``image_folder.py``) and also give training batches through a DataLoader
(``loader.py``).
"""
from mixgan.data.images import FOLDER_PREFIX, IMAGE_DATASETS, is_image_dataset
from mixgan.data.registry import DATASETS, data_label, dataset_names, default_for, is_known_dataset, make_data

__all__ = ["DATASETS", "IMAGE_DATASETS", "FOLDER_PREFIX", "make_data", "dataset_names", "is_known_dataset",
           "is_image_dataset", "default_for", "data_label"]
