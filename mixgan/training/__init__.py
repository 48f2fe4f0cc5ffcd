"""The engine: one set-up (``setup.py``) for the single-run loop (``loop.py``) and the batched
engine that trains R runs as one stacked model (``batched.py``, with its CUDA-graph fast path in
``cuda_graph.py``), resuming, the memory estimate and CPU tuning.

>>> from mixgan.training import train
"""
from mixgan.training.batched import train_batched
from mixgan.training.loop import train
from mixgan.training.resuming import resume
from mixgan.training.setup import resolve_device

__all__ = ["train", "train_batched", "resume", "resolve_device"]
