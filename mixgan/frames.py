"""Dense animation frames: the fixed snapshot noise through G at log-spaced iterations, as raw arrays.

``mixgan train --frames N`` saves ``frames/iter_NNNNNN.npz`` (``real``, ``fake``,
``iteration`` and, with ``--landscape``, the discriminator's landscape) at N iterations
spaced logarithmically from 1 to the last, so the fast early changes of GAN training get
as many frames as the slow late ones. ``mixgan animate`` draws them.
"""
from pathlib import Path

import numpy as np
import torch

from mixgan import runs
from mixgan.errors import UsageError
from mixgan.landscape import MAX_RESOLUTION, d_landscape

MAX_FRAMES = 100_000  # beyond this the frames folder, not the run, would be the experiment


def frame_iterations(n, last):
    """``n`` distinct iterations in 1..``last``, logarithmically spaced, with 1 and ``last`` included.

    Each step multiplies by the ratio that spreads the remaining log-distance evenly over
    the remaining frames, rounded, and at least one more than the previous frame; so near 1,
    where geometric spacing would repeat whole numbers, the frames are consecutive, and
    further on they are geometric. ``n >= last`` gives every iteration; ``n = 0`` none.
    """
    if n <= 0:
        return ()
    if n == 1 or last == 1:
        return (last,)
    if n >= last:
        return tuple(range(1, last + 1))
    its = [1]
    for k in range(1, n):
        prev, left = its[-1], n - k  # frames still to place, this one included
        target = round(prev * (last / prev) ** (1 / left))
        its.append(min(last - (left - 1), max(prev + 1, target)))
    return tuple(its)


def check_frame_options(config):
    """Validate ``frames`` and ``landscape`` (called by ``config.check``)."""
    if not 0 <= config.frames <= MAX_FRAMES:
        raise UsageError(f"frames must be in 0..{MAX_FRAMES} (0 = none), got {config.frames}")
    if config.frames == 1:
        raise UsageError("frames must be 0 (none) or at least 2 (the first and the last iteration)")
    if config.landscape != 0 and not 2 <= config.landscape <= MAX_RESOLUTION:
        raise UsageError(f"landscape must be 0 (none) or a grid size in 2..{MAX_RESOLUTION}, got {config.landscape}")


def frame_path(run, iteration):
    return Path(run) / "frames" / f"iter_{iteration:06d}.npz"


def landscape_arrays(D, real, config):
    """The landscape entries of a snapshot or frame ``.npz``; empty when ``landscape`` is off."""
    return d_landscape(D, real, config.landscape) if config.landscape else {}


@torch.no_grad()
def write_frame(run, iteration, G, D, fixed_z, fixed_real, config):
    """Save ``frames/iter_NNNNNN.npz`` with the same fixed noise and real points as the snapshots."""
    path = frame_path(run, iteration)
    path.parent.mkdir(exist_ok=True)
    arrays = {"real": fixed_real, "fake": G(fixed_z).cpu().numpy(), "iteration": np.int64(iteration),
              **landscape_arrays(D, fixed_real, config)}
    runs.atomic_save_npz(path, **arrays)
    return arrays


def saved_iterations(folder):
    """Iterations of the ``iter_NNNNNN.npz`` files in a snapshots or frames folder, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return ()
    its = []
    for p in folder.glob("iter_*.npz"):
        try:
            its.append(int(p.stem[5:]))
        except ValueError:
            continue
    return tuple(sorted(its))
