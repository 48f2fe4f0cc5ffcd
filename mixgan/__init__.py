"""mixgan: generator and discriminator modules, interchangeable GAN objectives (standard and mixup)
and the tools to train, see and compare them.

The public API is loaded on first use (PEP 562), so ``import mixgan`` and ``mixgan --help`` load
neither torch's training code nor matplotlib::

    from mixgan import TrainConfig, train
    run = train(TrainConfig(objective="mixup", data="spiral"))
"""
import importlib

# public name -> (module, attribute)
_API = {
    "TrainConfig": ("mixgan.config", "TrainConfig"),
    "make_config": ("mixgan.config", "make_config"),
    "train": ("mixgan.training.loop", "train"),
    "train_batched": ("mixgan.training.batched", "train_batched"),
    "resume": ("mixgan.training.resuming", "resume"),
    "load_run": ("mixgan.runs.reader", "load_run"),
    "sample": ("mixgan.evaluation.sampling", "sample"),
    "snapshot_metrics": ("mixgan.evaluation.toy_metrics", "snapshot_metrics"),
    "figure5": ("mixgan.experiments.figure5", "make_figure5"),
    "compare": ("mixgan.experiments.compare", "compare"),
    "sweep": ("mixgan.experiments.sweep", "sweep"),
    "UsageError": ("mixgan.errors", "UsageError"),
    "RunInterrupted": ("mixgan.errors", "RunInterrupted"),
    "RunFailed": ("mixgan.errors", "RunFailed"),
}
__all__ = list(_API)


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module 'mixgan' has no attribute {name!r}")
    module, attribute = _API[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_API))
