"""Data sources by name: every entry has ``sample(n, generator) -> Tensor[n, *event_shape]``."""
from toy_data import DATASETS as TOY_DATASETS

DATASETS = dict(TOY_DATASETS)


def make_data(name):
    return DATASETS[name]
