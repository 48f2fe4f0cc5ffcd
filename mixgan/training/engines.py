"""Which engine trains a run: the one rule, in one place.

- A new run the batched engine covers (``batched.batchable``: an objective with a batched form
  on 2D toy data, without gradient penalties, spectral norm or manifold mixup) trains there as a
  batch of one: on a GPU every iteration then replays as one CUDA graph (``cuda_graph.py``),
  where the single-run loop launches a few hundred small kernels from Python.
- Every other run (images, penalties, spectral norm, manifold mixup, objectives without a
  batched form) trains in the single-run loop (``loop.py``).
- A stopped run goes on in the engine that started it, as its ``config.json`` records under
  ``recorded`` → ``engine`` (runs without the record were started by the single-run loop), so
  that resuming stays bitwise: the two engines agree only within float rounding.

``mixgan train`` and ``mixgan figure5`` use this rule; the Python function :func:`mixgan.train` is
the single-run loop itself, the reference the batched engine is tested against.
"""
from mixgan.config import recorded_fact
from mixgan.training.batched import batchable, train_batched
from mixgan.training.loop import train

BATCHED = "batched"


def engine_for(config, run=None):
    """``"batched"`` or ``"single"``: the engine that trains ``config``, or goes on with ``run``."""
    if run is not None:
        return BATCHED if recorded_engine(run) == BATCHED else "single"
    return BATCHED if batchable(config) else "single"


def recorded_engine(run):
    """The engine ``run``'s config.json records (None for runs of the single-run loop and older folders)."""
    return recorded_fact(run, "engine")


def train_run(config, progress=True, resume=None):
    """Train one run (or, with ``resume``, go on with that run folder) in its engine; return its folder."""
    if engine_for(config, resume) == BATCHED:
        return train_batched([config], progress=progress, resume=None if resume is None else [resume])[0]
    return train(config, progress=progress, resume=resume)
